//! The physical type of an Avro schema, as Java's `Schema.Type` sees it: logical types collapse
//! onto the type they annotate (`timestamp-millis` → long, `decimal` → bytes or fixed, `uuid` →
//! string or fixed …), and the specification's promotions between them. The one place for both:
//! the compatibility checker, its explanations and the processor's resolver all ask here.

use apache_avro::schema::{InnerDecimalSchema, UuidSchema};
use apache_avro::Schema;

/// Java's `Schema.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Array,
    Map,
    Union,
    Record,
    Enum,
    Fixed,
}

impl Type {
    /// The primitive types, in the specification's order.
    pub const PRIMITIVES: [Type; 8] = [
        Type::Null,
        Type::Boolean,
        Type::Int,
        Type::Long,
        Type::Float,
        Type::Double,
        Type::Bytes,
        Type::String,
    ];

    /// The physical type of `schema`; `None` for a named reference not followed yet.
    pub fn of(schema: &Schema) -> Option<Type> {
        Some(match schema {
            Schema::Null => Type::Null,
            Schema::Boolean => Type::Boolean,
            Schema::Int | Schema::Date | Schema::TimeMillis => Type::Int,
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => Type::Long,
            Schema::Float => Type::Float,
            Schema::Double => Type::Double,
            Schema::Bytes | Schema::BigDecimal | Schema::Uuid(UuidSchema::Bytes) => Type::Bytes,
            Schema::String | Schema::Uuid(UuidSchema::String) => Type::String,
            Schema::Decimal(d) => match d.inner {
                InnerDecimalSchema::Bytes => Type::Bytes,
                InnerDecimalSchema::Fixed(_) => Type::Fixed,
            },
            Schema::Fixed(_) | Schema::Uuid(UuidSchema::Fixed(_)) | Schema::Duration(_) => {
                Type::Fixed
            }
            Schema::Array(_) => Type::Array,
            Schema::Map(_) => Type::Map,
            Schema::Union(_) => Type::Union,
            Schema::Record(_) => Type::Record,
            Schema::Enum(_) => Type::Enum,
            Schema::Ref { .. } => return None,
        })
    }

    pub fn is_primitive(self) -> bool {
        Type::PRIMITIVES.contains(&self)
    }

    /// The specification's promotions: a writer of this type is read by a reader of `reader`
    /// (`int → long/float/double`, `long → float/double`, `float → double`, `string ↔ bytes`).
    /// The same type is not a promotion.
    pub fn promotes_to(self, reader: Type) -> bool {
        use Type::*;
        matches!(
            (self, reader),
            (Int, Long | Float | Double)
                | (Long, Float | Double)
                | (Float, Double)
                | (String, Bytes)
                | (Bytes, String)
        )
    }

    /// Java's `Type.toString()` (upper case), as in its messages.
    pub fn java(self) -> &'static str {
        match self {
            Type::Null => "NULL",
            Type::Boolean => "BOOLEAN",
            Type::Int => "INT",
            Type::Long => "LONG",
            Type::Float => "FLOAT",
            Type::Double => "DOUBLE",
            Type::Bytes => "BYTES",
            Type::String => "STRING",
            Type::Array => "ARRAY",
            Type::Map => "MAP",
            Type::Union => "UNION",
            Type::Record => "RECORD",
            Type::Enum => "ENUM",
            Type::Fixed => "FIXED",
        }
    }

    /// The Avro spelling, as in schemas.
    pub fn avro(self) -> &'static str {
        match self {
            Type::Null => "null",
            Type::Boolean => "boolean",
            Type::Int => "int",
            Type::Long => "long",
            Type::Float => "float",
            Type::Double => "double",
            Type::Bytes => "bytes",
            Type::String => "string",
            Type::Array => "array",
            Type::Map => "map",
            Type::Union => "union",
            Type::Record => "record",
            Type::Enum => "enum",
            Type::Fixed => "fixed",
        }
    }
}

/// The size of a fixed type (also `uuid`, `duration` and `decimal` on fixed).
pub fn fixed_size(schema: &Schema) -> Option<usize> {
    match schema {
        Schema::Fixed(f) | Schema::Uuid(UuidSchema::Fixed(f)) | Schema::Duration(f) => Some(f.size),
        Schema::Decimal(d) => match &d.inner {
            InnerDecimalSchema::Fixed(f) => Some(f.size),
            InnerDecimalSchema::Bytes => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_types_are_their_physical_types_and_promotions_follow_the_spec() {
        let parse = |text: &str| Schema::parse_str(text).expect("schema");
        let of = |text: &str| Type::of(&parse(text));
        assert_eq!(
            of(r#"{"type":"long","logicalType":"timestamp-millis"}"#),
            Some(Type::Long)
        );
        assert_eq!(
            of(r#"{"type":"int","logicalType":"date"}"#),
            Some(Type::Int)
        );
        assert_eq!(
            of(r#"{"type":"string","logicalType":"uuid"}"#),
            Some(Type::String)
        );
        let readers = |w: Type| -> Vec<&str> {
            Type::PRIMITIVES
                .iter()
                .filter(|r| w.promotes_to(**r))
                .map(|r| r.avro())
                .collect()
        };
        assert_eq!(readers(Type::Int), ["long", "float", "double"]);
        assert_eq!(readers(Type::Long), ["float", "double"]);
        assert_eq!(readers(Type::Float), ["double"]);
        assert_eq!(readers(Type::String), ["bytes"]);
        assert_eq!(readers(Type::Bytes), ["string"]);
        assert!(readers(Type::Double).is_empty() && readers(Type::Boolean).is_empty());
        assert!(!Type::Long.promotes_to(Type::Int));
    }
}
