//! Lists read one row past the page: the extra row says that another page follows, and the
//! last row shown is where it starts.

/// One page of a list, and the cursor of the next one when there is one.
pub struct Page<T, C> {
    pub items: Vec<T>,
    pub next: Option<C>,
}

/// Cuts `rows`, read with `limit + 1`, to `limit`; the next page's cursor is `cursor_of` the
/// last row shown.
pub fn cut<T, C>(mut rows: Vec<T>, limit: u64, cursor_of: impl Fn(&T) -> C) -> Page<T, C> {
    let next = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(cursor_of)
    } else {
        None
    };
    Page { items: rows, next }
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn a_row_past_the_limit_makes_a_cursor_of_the_last_one_shown() {
        let page = cut(vec![5, 4, 3], 2, |n| *n);
        assert_eq!((page.items, page.next), (vec![5, 4], Some(4)));
        let last = cut(vec![2, 1], 2, |n| *n);
        assert_eq!((last.items, last.next), (vec![2, 1], None));
    }
}
