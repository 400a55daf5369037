//! Reading the old server's tables. Each row is read as one JSON object (`row_to_json`), so
//! columns are found by name whatever their SQL types, and columns mintflow does not know are
//! simply not looked at.
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use serde_json::{Map, Value as Json};

/// One row of an old table, by column name.
pub type OldRow = Map<String, Json>;

/// Why an old table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error("{table}: a row is not a JSON object")]
    NotAnObject { table: String },
}

pub type Result<T> = std::result::Result<T, Error>;

/// Every row of `table`, or `None` when the old database has no such table.
pub async fn read_table(db: &DatabaseConnection, table: &str) -> Result<Option<Vec<OldRow>>> {
    let exists = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT to_regclass($1)::text AS name",
            [table.into()],
        ))
        .await?
        .and_then(|r| r.try_get::<Option<String>>("", "name").ok().flatten());
    if exists.is_none() {
        return Ok(None);
    }
    // `table` is one of the importer's own constant names, never input.
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT row_to_json(t)::text AS row FROM {table} t"),
        ))
        .await?;
    rows.iter()
        .map(|r| {
            let text: String = r.try_get("", "row")?;
            match serde_json::from_str(&text) {
                Ok(Json::Object(row)) => Ok(row),
                _ => Err(Error::NotAnObject {
                    table: table.to_owned(),
                }),
            }
        })
        .collect::<Result<_>>()
        .map(Some)
}

/// The row's `id` as text (a number or a string in the old schema), for keys and reports.
pub fn row_id(row: &OldRow) -> Option<String> {
    match row.get("id")? {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A text column; `None` when missing, null or empty.
pub fn text<'a>(row: &'a OldRow, column: &str) -> Option<&'a str> {
    row.get(column)
        .and_then(Json::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A number column, also when the old schema stored it as text.
pub fn number(row: &OldRow, column: &str) -> Option<f64> {
    match row.get(column)? {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
