//! The fields of known layouts, so that `wsm watch` says which fields an update changed and
//! by how much, rather than which bytes.

mod rf2;

/// How a field's bytes read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    F64,
    F32,
    I32,
    U8,
    /// A NUL-padded text of this many bytes.
    Text(usize),
}

impl Kind {
    fn size(self) -> usize {
        match self {
            Self::F64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::U8 => 1,
            Self::Text(len) => len,
        }
    }

    /// The value of `bytes` (the field's own, little-endian as on x86_64 Windows).
    fn value(self, bytes: &[u8]) -> Value {
        let array = |bytes: &[u8]| -> [u8; 8] {
            let mut array = [0; 8];
            array[..bytes.len().min(8)].copy_from_slice(&bytes[..bytes.len().min(8)]);
            array
        };
        match self {
            Self::F64 => Value::Number(f64::from_le_bytes(array(bytes))),
            Self::F32 => Value::Number(f64::from(f32::from_le_bytes(
                array(bytes)[..4].try_into().unwrap_or_default(),
            ))),
            Self::I32 => Value::Number(f64::from(i32::from_le_bytes(
                array(bytes)[..4].try_into().unwrap_or_default(),
            ))),
            Self::U8 => Value::Number(f64::from(bytes.first().copied().unwrap_or(0))),
            Self::Text(_) => {
                let end = bytes
                    .iter()
                    .position(|&byte| byte == 0)
                    .unwrap_or(bytes.len());
                Value::Text(String::from_utf8_lossy(&bytes[..end]).into_owned())
            }
        }
    }
}

/// A field of a structure: its name, where it starts in the structure, how it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub kind: Kind,
}

/// A field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
}

impl Value {
    /// As JSON (a number that is not finite as `null`).
    pub fn json(&self) -> String {
        match self {
            Self::Number(number) if number.is_finite() => exact(*number),
            Self::Number(_) => "null".to_owned(),
            Self::Text(text) => crate::json_string(text),
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Number(number) => f.write_str(&compact(*number)),
            Self::Text(text) => write!(f, "{text:?}"),
        }
    }
}

/// A number exactly, in as few characters as it takes: plainly between 1e-6 and 1e15, else
/// with an exponent (a double's bytes that hold something else read as such numbers).
fn exact(number: f64) -> String {
    if plain(number) {
        format!("{number}")
    } else {
        format!("{number:e}")
    }
}

/// A number for people: six decimals at most (0.01, not 0.010000000000000231), or four
/// significant digits with an exponent.
fn compact(number: f64) -> String {
    if !plain(number) {
        return format!("{number:.3e}");
    }
    let text = format!("{number:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    match text {
        "-0" => "0".to_owned(),
        text => text.to_owned(),
    }
}

fn plain(number: f64) -> bool {
    let size = number.abs();
    size == 0.0 || (1e-6..1e15).contains(&size) || !size.is_finite()
}

/// One field an update changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Its path in the data (`mVehicles[3].mWheels[0].mPressure`).
    pub field: String,
    pub before: Value,
    pub after: Value,
}

impl Change {
    /// `name before -> after (+delta)`.
    pub fn text(&self) -> String {
        match (&self.before, &self.after) {
            (Value::Number(before), Value::Number(after)) => {
                let delta = compact(after - before);
                let sign = if delta.starts_with('-') { "" } else { "+" };
                format!(
                    "{} {} -> {} ({sign}{delta})",
                    self.field,
                    compact(*before),
                    compact(*after)
                )
            }
            (before, after) => format!("{} {before} -> {after}", self.field),
        }
    }

    /// `{"field":…,"before":…,"after":…}`.
    pub fn json(&self) -> String {
        format!(
            "{{\"field\":{},\"before\":{},\"after\":{}}}",
            crate::json_string(&self.field),
            self.before.json(),
            self.after.json()
        )
    }
}

/// The fields of a region's data (from the layout's data offset), flat and sorted by offset.
pub struct Fields {
    /// Each field's path, start and kind.
    flat: Vec<(String, usize, Kind)>,
}

impl Fields {
    /// The fields of the region `name`'s data of `data_len` bytes, if its layout is known:
    /// rFactor 2's telemetry buffer (`$rFactor2SMMP_Telemetry$`, a dedicated server's with its
    /// process id after it), versioned.
    pub fn of(name: &str, versioned: bool, data_len: usize) -> Option<Self> {
        let telemetry = crate::object_name(name).starts_with("$rFactor2SMMP_Telemetry$");
        (telemetry && versioned && data_len >= rf2::SIZE).then(rf2_telemetry)
    }

    /// The fields that differ between `before` and `after` (two copies of the data) within
    /// `ranges` (the byte ranges that differ), in order.
    pub fn changed(&self, before: &[u8], after: &[u8], ranges: &[(usize, usize)]) -> Vec<Change> {
        let mut changes = Vec::new();
        for &(start, end) in ranges {
            // The first field that ends after `start`.
            let first = self
                .flat
                .partition_point(|(_, offset, kind)| offset + kind.size() <= start);
            for (name, offset, kind) in self.flat[first..]
                .iter()
                .take_while(|(_, offset, _)| *offset < end)
            {
                let bytes = *offset..*offset + kind.size();
                let (Some(old), Some(new)) = (before.get(bytes.clone()), after.get(bytes)) else {
                    continue;
                };
                if old != new {
                    changes.push(Change {
                        field: name.clone(),
                        before: kind.value(old),
                        after: kind.value(new),
                    });
                }
            }
        }
        changes
    }
}

/// `rF2Telemetry`: its header's two fields, then each vehicle's, each of its wheels' last.
fn rf2_telemetry() -> Fields {
    let mut flat = vec![
        ("mBytesUpdatedHint".to_owned(), rf2::HINT_AT, Kind::I32),
        ("mNumVehicles".to_owned(), rf2::COUNT_AT, Kind::I32),
    ];
    let vehicles = (rf2::SIZE - rf2::VEHICLES_AT) / rf2::VEHICLE_SIZE;
    for vehicle in 0..vehicles {
        let at = rf2::VEHICLES_AT + vehicle * rf2::VEHICLE_SIZE;
        for field in rf2::VEHICLE {
            let name = format!("mVehicles[{vehicle}].{}", field.name);
            flat.push((name, at + field.offset, field.kind));
        }
        for wheel in 0..4 {
            let at = at + rf2::WHEELS_AT + wheel * rf2::WHEEL_SIZE;
            for field in rf2::WHEEL {
                let name = format!("mVehicles[{vehicle}].mWheels[{wheel}].{}", field.name);
                flat.push((name, at + field.offset, field.kind));
            }
        }
    }
    flat.sort_by_key(|(_, offset, _)| *offset);
    Fields { flat }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(data: &mut [u8], at: usize, bytes: &[u8]) {
        data[at..at + bytes.len()].copy_from_slice(bytes);
    }

    #[test]
    fn the_rf2_layout_is_the_headers() {
        // The plugin's buffer: its 8-byte version block, then rF2Telemetry (wsm-bridge's
        // preset has 241 680 bytes in all).
        assert_eq!(rf2::SIZE + 8, 241_680);
        assert_eq!(rf2::VEHICLES_AT + 128 * rf2::VEHICLE_SIZE, rf2::SIZE);
        assert_eq!(rf2::WHEELS_AT + 4 * rf2::WHEEL_SIZE, rf2::VEHICLE_SIZE);
        for table in [rf2::VEHICLE, rf2::WHEEL] {
            // Sorted, and no field overlaps the next.
            for pair in table.windows(2) {
                assert!(
                    pair[0].offset + pair[0].kind.size() <= pair[1].offset,
                    "{pair:?}"
                );
            }
        }
        let fields = Fields::of("Local\\$rFactor2SMMP_Telemetry$", true, rf2::SIZE).unwrap();
        assert_eq!(
            fields.flat.len(),
            2 + 128 * (rf2::VEHICLE.len() + 4 * rf2::WHEEL.len())
        );
        assert!(Fields::of("$rFactor2SMMP_Telemetry$", false, rf2::SIZE).is_none());
        assert!(Fields::of("$rFactor2SMMP_Telemetry$", true, 100).is_none());
        assert!(Fields::of("$rFactor2SMMP_Scoring$", true, rf2::SIZE).is_none());
        assert!(Fields::of("$rFactor2SMMP_Telemetry$4242", true, rf2::SIZE).is_some());
    }

    #[test]
    fn an_update_is_told_field_by_field() {
        let fields = Fields::of("$rFactor2SMMP_Telemetry$", true, rf2::SIZE).unwrap();
        let field = |table: &[Field], name: &str| {
            table
                .iter()
                .find(|field| field.name == name)
                .unwrap()
                .offset
        };
        let vehicle = |index: usize| rf2::VEHICLES_AT + index * rf2::VEHICLE_SIZE;
        let pos_y = vehicle(3) + field(rf2::VEHICLE, "mPos.y");
        let temperature = vehicle(0)
            + rf2::WHEELS_AT
            + 2 * rf2::WHEEL_SIZE
            + field(rf2::WHEEL, "mTemperature[1]");
        let name = vehicle(1) + field(rf2::VEHICLE, "mVehicleName");
        let before = vec![0_u8; rf2::SIZE];
        let mut after = before.clone();
        put(&mut after, pos_y, &12.5_f64.to_le_bytes());
        put(&mut after, temperature, &350.25_f64.to_le_bytes());
        put(&mut after, name, b"Oreca 07");
        put(&mut after, rf2::COUNT_AT, &20_i32.to_le_bytes());
        let ranges = [
            (rf2::COUNT_AT, rf2::COUNT_AT + 1),
            (temperature + 2, temperature + 3),
            (name, name + 8),
            (pos_y, pos_y + 8),
        ];
        let changes = fields.changed(&before, &after, &ranges);
        let told: Vec<String> = changes.iter().map(Change::text).collect();
        assert_eq!(
            told,
            [
                "mNumVehicles 0 -> 20 (+20)",
                "mVehicles[0].mWheels[2].mTemperature[1] 0 -> 350.25 (+350.25)",
                "mVehicles[1].mVehicleName \"\" -> \"Oreca 07\"",
                "mVehicles[3].mPos.y 0 -> 12.5 (+12.5)",
            ]
        );
        let tiny = Change {
            field: "x".into(),
            before: Value::Number(f64::from_bits(1)),
            after: Value::Number(-2.5e300),
        };
        assert_eq!(tiny.text(), "x 4.941e-324 -> -2.500e300 (-2.500e300)");
        assert_eq!(
            tiny.json(),
            "{\"field\":\"x\",\"before\":5e-324,\"after\":-2.5e300}"
        );
        let noisy = Change {
            field: "mLapStartET".into(),
            before: Value::Number(2.01),
            after: Value::Number(2.02),
        };
        assert_eq!(noisy.text(), "mLapStartET 2.01 -> 2.02 (+0.01)");
        assert_eq!(
            changes[2].json(),
            "{\"field\":\"mVehicles[1].mVehicleName\",\"before\":\"\",\"after\":\"Oreca 07\"}"
        );
    }
}
