//! The User field table's vocabulary: what kind of value a field holds, whether it may be null,
//! and the two forms a value travels in (borrowed out of a [`User`], owned into one).
//!
//! The table itself is [`super::USER_FIELDS`], generated with the struct by `user_record!` in
//! [`super`]. Every adapter derives from it: the Avro codec and reader, and each sink's column
//! list, DDL, parameter binding and row reading (each sink maps a [`FieldKind`] to its own column
//! type once).

/// What a User field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// UTF-8 text (Avro `string`).
    Text,
    /// 64-bit integer (Avro `long`).
    Long,
    /// 32-bit integer (Avro `int`).
    Int,
    /// A UTC instant to the millisecond. In the User and in its own Avro field it is the
    /// canonical ISO-8601 text ([`super::instant`]; Avro `string`, as every version has it);
    /// sinks store it in a native timestamp column; from v3 on, each such field has a
    /// `timestamp-millis` companion (see [`instant_companion`]).
    Timestamp,
}

impl FieldKind {
    /// The Avro primitive type of the kind.
    pub fn avro_type(self) -> &'static str {
        match self {
            FieldKind::Text | FieldKind::Timestamp => "string",
            FieldKind::Long => "long",
            FieldKind::Int => "int",
        }
    }
}

/// The suffix of a timestamp field's `timestamp-millis` companion in the Avro record (`dob_ms`
/// beside `dob`): the same instant, as a logical type, for readers that want one. Writers fill it
/// from the field; readers read the field.
pub const INSTANT_SUFFIX: &str = "_ms";

/// The index and entry of the [`FieldKind::Timestamp`] field whose companion is the Avro field
/// `name` (`dob_ms` → `dob`), if it is one.
pub fn instant_companion(name: &str) -> Option<(usize, &'static Field)> {
    let base = name.strip_suffix(INSTANT_SUFFIX)?;
    super::USER_FIELDS
        .iter()
        .enumerate()
        .find(|(_, f)| f.name == base && f.kind == FieldKind::Timestamp)
}

/// One row of the User field table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The field name: also its Avro field name and its column name in every sink.
    pub name: &'static str,
    pub kind: FieldKind,
    /// Nullable (`Option`): absent from older schemas, `NULL`-able columns, addable to old tables.
    pub optional: bool,
}

/// A field's value, borrowed from a [`User`](super::User).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValue<'a> {
    Null,
    Text(&'a str),
    Long(i64),
    Int(i32),
}

impl FieldValue<'_> {
    /// The owned form.
    pub fn to_data(self) -> FieldData {
        match self {
            FieldValue::Null => FieldData::Null,
            FieldValue::Text(s) => FieldData::Text(s.to_string()),
            FieldValue::Long(v) => FieldData::Long(v),
            FieldValue::Int(v) => FieldData::Int(v),
        }
    }
}

/// A field's value on its way into a [`User`](super::User) (read from a row or a datum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldData {
    Null,
    Text(String),
    Long(i64),
    Int(i32),
}

/// A value that does not fit its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field}: {detail}")]
pub struct FieldError {
    pub field: &'static str,
    pub detail: String,
}

/// A Rust type a User field can have: `String`, `i64`, `i32`, or an `Option` of one.
pub trait FieldType: Sized {
    const KIND: FieldKind;
    const OPTIONAL: bool;
    fn value(&self) -> FieldValue<'_>;
    /// The field from `data`; the error says what was found instead.
    fn from_data(data: FieldData) -> Result<Self, String>;
}

fn expected(kind: FieldKind, found: &FieldData) -> String {
    format!("expected {}, found {found:?}", kind.avro_type())
}

impl FieldType for String {
    const KIND: FieldKind = FieldKind::Text;
    const OPTIONAL: bool = false;
    fn value(&self) -> FieldValue<'_> {
        FieldValue::Text(self)
    }
    fn from_data(data: FieldData) -> Result<Self, String> {
        match data {
            FieldData::Text(s) => Ok(s),
            other => Err(expected(Self::KIND, &other)),
        }
    }
}

impl FieldType for i64 {
    const KIND: FieldKind = FieldKind::Long;
    const OPTIONAL: bool = false;
    fn value(&self) -> FieldValue<'_> {
        FieldValue::Long(*self)
    }
    /// An int is promoted, as Avro promotes it.
    fn from_data(data: FieldData) -> Result<Self, String> {
        match data {
            FieldData::Long(v) => Ok(v),
            FieldData::Int(v) => Ok(i64::from(v)),
            other => Err(expected(Self::KIND, &other)),
        }
    }
}

impl FieldType for i32 {
    const KIND: FieldKind = FieldKind::Int;
    const OPTIONAL: bool = false;
    fn value(&self) -> FieldValue<'_> {
        FieldValue::Int(*self)
    }
    fn from_data(data: FieldData) -> Result<Self, String> {
        match data {
            FieldData::Int(v) => Ok(v),
            other => Err(expected(Self::KIND, &other)),
        }
    }
}

impl<T: FieldType> FieldType for Option<T> {
    const KIND: FieldKind = T::KIND;
    const OPTIONAL: bool = true;
    fn value(&self) -> FieldValue<'_> {
        self.as_ref().map_or(FieldValue::Null, T::value)
    }
    fn from_data(data: FieldData) -> Result<Self, String> {
        match data {
            FieldData::Null => Ok(None),
            other => T::from_data(other).map(Some),
        }
    }
}

/// A field declared `name: String as Timestamp` holds text of [`FieldKind::Timestamp`].
///
/// Generates, from one list of fields, the [`User`](super::User) struct, the field table
/// [`USER_FIELDS`](super::USER_FIELDS) and the two conversions every adapter uses:
/// `User::values` (out) and `User::from_fields` (in).
macro_rules! user_record {
    (@kind $ty:ty) => { <$ty as FieldType>::KIND };
    (@kind $ty:ty, $kind:ident) => { FieldKind::$kind };
    (
        $(#[$struct_doc:meta])*
        pub struct User {
            $( $(#[$field_doc:meta])* $name:ident : $ty:ty $(as $kind:ident)? ),+ $(,)?
        }
    ) => {
        $(#[$struct_doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub struct User {
            $( $(#[$field_doc])* pub $name: $ty, )+
        }

        /// How many fields a [`User`] has.
        pub const USER_FIELD_COUNT: usize = [$(stringify!($name)),+].len();

        /// The User field table, in struct (and newest schema) order: name, kind, nullability.
        pub const USER_FIELDS: [Field; USER_FIELD_COUNT] = [$(
            Field {
                name: stringify!($name),
                kind: user_record!(@kind $ty $(, $kind)?),
                optional: <$ty as FieldType>::OPTIONAL,
            },
        )+];

        impl User {
            /// Every field's value, in [`USER_FIELDS`] order.
            pub fn values(&self) -> [FieldValue<'_>; USER_FIELD_COUNT] {
                [$( FieldType::value(&self.$name), )+]
            }

            /// A user from `get`, asked once per field in [`USER_FIELDS`] order; a value of the
            /// wrong kind, or a null for a required field, is an error naming the field.
            pub fn from_fields(
                mut get: impl FnMut(&'static Field) -> Result<FieldData, FieldError>,
            ) -> Result<User, FieldError> {
                let mut next = USER_FIELDS.iter();
                Ok(User {$(
                    $name: {
                        let field = next.next().ok_or_else(|| FieldError {
                            field: stringify!($name),
                            detail: "not in the field table".into(),
                        })?;
                        FieldType::from_data(get(field)?).map_err(|detail| FieldError {
                            field: field.name,
                            detail,
                        })?
                    },
                )+})
            }
        }
    };
}
pub(crate) use user_record;
