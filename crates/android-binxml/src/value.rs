//! Typed resource values (`Res_value`).

/// `Res_value::TYPE_NULL`.
pub const TYPE_NULL: u8 = 0x00;
/// `Res_value::TYPE_REFERENCE`.
pub const TYPE_REFERENCE: u8 = 0x01;
/// `Res_value::TYPE_ATTRIBUTE`.
pub const TYPE_ATTRIBUTE: u8 = 0x02;
/// `Res_value::TYPE_STRING`.
pub const TYPE_STRING: u8 = 0x03;
/// `Res_value::TYPE_FLOAT`.
pub const TYPE_FLOAT: u8 = 0x04;
/// `Res_value::TYPE_DIMENSION`.
pub const TYPE_DIMENSION: u8 = 0x05;
/// `Res_value::TYPE_FRACTION`.
pub const TYPE_FRACTION: u8 = 0x06;
/// `Res_value::TYPE_DYNAMIC_REFERENCE`.
pub const TYPE_DYNAMIC_REFERENCE: u8 = 0x07;
/// `Res_value::TYPE_INT_DEC`.
pub const TYPE_INT_DEC: u8 = 0x10;
/// `Res_value::TYPE_INT_HEX`.
pub const TYPE_INT_HEX: u8 = 0x11;
/// `Res_value::TYPE_INT_BOOLEAN`.
pub const TYPE_INT_BOOLEAN: u8 = 0x12;
/// `Res_value::TYPE_INT_COLOR_ARGB8` (first color type).
pub const TYPE_INT_COLOR_ARGB8: u8 = 0x1c;
/// `Res_value::TYPE_INT_COLOR_RGB4` (last color type).
pub const TYPE_INT_COLOR_RGB4: u8 = 0x1f;

/// A typed value, as stored in binary XML attributes and resource tables.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `TYPE_NULL` (undefined or empty).
    Null,
    /// `TYPE_REFERENCE`: `@0xPPTTEEEE`.
    Reference(u32),
    /// `TYPE_ATTRIBUTE`: `?0xPPTTEEEE`.
    AttributeRef(u32),
    /// `TYPE_DYNAMIC_REFERENCE`: a reference into a shared library package.
    DynamicReference(u32),
    /// `TYPE_STRING`, resolved from the string pool.
    String(String),
    /// `TYPE_FLOAT`.
    Float(f32),
    /// `TYPE_DIMENSION` (complex value; see [`Value::as_display`]).
    Dimension(u32),
    /// `TYPE_FRACTION` (complex value).
    Fraction(u32),
    /// `TYPE_INT_DEC`.
    IntDec(i32),
    /// `TYPE_INT_HEX`.
    IntHex(u32),
    /// `TYPE_INT_BOOLEAN` (any non-zero data is true).
    Bool(bool),
    /// `TYPE_INT_COLOR_*` (raw ARGB/RGB data).
    Color(u32),
    /// Any other type, or a string whose index is out of range.
    Other {
        /// Raw `dataType`.
        data_type: u8,
        /// Raw `data`.
        data: u32,
    },
}

impl Value {
    /// Builds a value from a raw `(dataType, data)` pair; `string` looks up
    /// string-pool indices.
    pub(crate) fn from_raw(
        data_type: u8,
        data: u32,
        mut string: impl FnMut(u32) -> Option<String>,
    ) -> Self {
        match data_type {
            TYPE_NULL => Value::Null,
            TYPE_REFERENCE => Value::Reference(data),
            TYPE_ATTRIBUTE => Value::AttributeRef(data),
            TYPE_DYNAMIC_REFERENCE => Value::DynamicReference(data),
            TYPE_STRING => match string(data) {
                Some(s) => Value::String(s),
                None => Value::Other { data_type, data },
            },
            TYPE_FLOAT => Value::Float(f32::from_bits(data)),
            TYPE_DIMENSION => Value::Dimension(data),
            TYPE_FRACTION => Value::Fraction(data),
            TYPE_INT_DEC => Value::IntDec(i32::from_le_bytes(data.to_le_bytes())),
            TYPE_INT_HEX => Value::IntHex(data),
            TYPE_INT_BOOLEAN => Value::Bool(data != 0),
            TYPE_INT_COLOR_ARGB8..=TYPE_INT_COLOR_RGB4 => Value::Color(data),
            _ => Value::Other { data_type, data },
        }
    }

    /// Returns the string if this is a [`Value::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Returns the boolean if this is a [`Value::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Returns an integer for `IntDec`/`IntHex` values.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::IntDec(v) => Some(i64::from(*v)),
            Value::IntHex(v) => Some(i64::from(*v)),
            _ => None,
        }
    }

    /// Returns the referenced id for `Reference`/`DynamicReference` values.
    pub fn as_reference(&self) -> Option<u32> {
        match self {
            Value::Reference(r) | Value::DynamicReference(r) => Some(*r),
            _ => None,
        }
    }

    /// aapt-like text: `@0x7f020000`, `?0x01010000`, `true`, `12.0dip`,
    /// `#ff00ff00`, decimal integers, `0x…` for hex integers.
    pub fn as_display(&self) -> String {
        match self {
            Value::Null => "@null".to_owned(),
            Value::Reference(r) | Value::DynamicReference(r) => format!("@0x{r:08x}"),
            Value::AttributeRef(r) => format!("?0x{r:08x}"),
            Value::String(s) => s.clone(),
            Value::Float(f) => format!("{f:?}"),
            Value::Dimension(d) => {
                const UNITS: [&str; 6] = ["px", "dip", "sp", "pt", "in", "mm"];
                let unit = UNITS.get((d & 0xf) as usize).copied().unwrap_or("");
                format!("{:?}{unit}", complex_to_float(*d))
            }
            Value::Fraction(d) => {
                let unit = if d & 0xf == 1 { "%p" } else { "%" };
                format!("{:?}{unit}", complex_to_float(*d) * 100.0)
            }
            Value::IntDec(v) => v.to_string(),
            Value::IntHex(v) => format!("0x{v:08x}"),
            Value::Bool(b) => b.to_string(),
            Value::Color(c) => format!("#{c:08x}"),
            Value::Other { data_type, data } => format!("(type 0x{data_type:02x})0x{data:x}"),
        }
    }
}

/// Decodes a complex (dimension/fraction) value to a float, as Android's
/// `complexToFloat` does.
pub fn complex_to_float(complex: u32) -> f32 {
    const MANTISSA_MULT: f32 = 1.0 / 256.0;
    const RADIX_MULTS: [f32; 4] = [
        MANTISSA_MULT,
        MANTISSA_MULT / 128.0,
        MANTISSA_MULT / 32768.0,
        MANTISSA_MULT / 8_388_608.0,
    ];
    let mantissa = i32::from_le_bytes((complex & 0xffff_ff00).to_le_bytes());
    let radix = RADIX_MULTS
        .get(((complex >> 4) & 3) as usize)
        .copied()
        .unwrap_or(MANTISSA_MULT);
    mantissa as f32 * radix
}
