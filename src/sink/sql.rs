//! What the two SQL sinks share, derived from the User field table: the column list, the
//! upsert's `SET` list, the `CREATE TABLE` column definitions, the columns an older table lacks,
//! and the offsets table. Each sink gives only its own type for a [`FieldKind`].

use super::migrate::Wanted;
use crate::model::USER_FIELDS;

/// The user columns after `id`, in field-table order: `source_name, source_seed, …`.
pub fn columns() -> String {
    USER_FIELDS.map(|f| f.name).join(", ")
}

/// `c = excluded.c` for every user column (an upsert's `DO UPDATE SET`).
pub fn update_all_from(excluded: &str) -> String {
    USER_FIELDS
        .map(|f| format!("{0} = {excluded}.{0}", f.name))
        .join(", ")
}

/// The column definitions of `wanted` ([`Wanted::user`] for the users table): `name TYPE [NOT
/// NULL]`, the type (with any constraint) as `type_of` writes it for the column.
pub fn column_definitions(wanted: &[Wanted], type_of: impl Fn(&Wanted) -> String) -> String {
    wanted
        .iter()
        .map(|w| {
            let null = if w.optional { "" } else { " NOT NULL" };
            format!("{} {}{null}", w.name, type_of(w))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `CREATE TABLE IF NOT EXISTS {table}_offsets …` with the sink's text and integer types.
pub fn create_offsets_table(
    table: &str,
    text: &str,
    int: &str,
    bigint: &str,
    tail: &str,
) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table}_offsets (
             consumer_group {text} NOT NULL,
             topic {text} NOT NULL,
             \"partition\" {int} NOT NULL,
             next_offset {bigint} NOT NULL,
             PRIMARY KEY (consumer_group, topic, \"partition\")
         ){tail};"
    )
}

/// `CREATE TABLE IF NOT EXISTS {table}_skipped …`: the ranges a group skipped on purpose.
pub fn create_skipped_table(
    table: &str,
    text: &str,
    int: &str,
    bigint: &str,
    tail: &str,
) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table}_skipped (
             consumer_group {text} NOT NULL,
             topic {text} NOT NULL,
             \"partition\" {int} NOT NULL,
             from_offset {bigint} NOT NULL,
             to_offset {bigint} NOT NULL,
             PRIMARY KEY (consumer_group, topic, \"partition\", from_offset)
         ){tail};"
    )
}

/// Record one skipped range (`$1..$5` / `?1..?5`: group, topic, partition, from, to); recording
/// it twice keeps one row.
pub fn insert_skipped(table: &str, mark: char) -> String {
    let p = |i: u8| format!("{mark}{i}");
    format!(
        "INSERT INTO {table}_skipped (consumer_group, topic, \"partition\", from_offset, to_offset) \
         VALUES ({}, {}, {}, {}, {}) ON CONFLICT DO NOTHING",
        p(1),
        p(2),
        p(3),
        p(4),
        p(5)
    )
}

/// The skipped ranges of a topic (bind the topic), oldest first.
pub fn select_skipped(table: &str, mark: char) -> String {
    format!(
        "SELECT consumer_group, \"partition\", from_offset, to_offset FROM {table}_skipped \
         WHERE topic = {mark}1 ORDER BY consumer_group, \"partition\", from_offset"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FieldKind;

    #[test]
    fn derived_from_the_field_table() {
        assert!(columns().starts_with("source_name, source_seed, source_page"));
        assert!(update_all_from("excluded").contains("email = excluded.email"));
        let defs = column_definitions(&Wanted::user(), |f| match f.kind {
            FieldKind::Text => "TEXT".into(),
            _ => "INTEGER".into(),
        });
        assert!(defs.contains("source_page INTEGER NOT NULL"), "{defs}");
        assert!(
            defs.contains("nat TEXT,") && defs.ends_with("cell TEXT"),
            "{defs}"
        );
    }
}
