//! Pagination as the contract defines it (section 1.7): `page_number` 0 and 1 both
//! mean the first page, `total_pages = ceil(rows / limit)`.

/// Largest page we serve; the UI asks for 10 000 to mean "all" in its pickers.
pub const MAX_LIMIT: i64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows per page.
    pub limit: i64,
    /// Rows to skip.
    pub offset: i64,
}

/// What a list endpoint does with `limit < 1`.
#[derive(Debug, Clone, Copy)]
pub enum WhenUnlimited {
    /// Everything on one page (projects, scenarios).
    All,
    /// This many rows (runs: 10).
    Default(i64),
}

impl Page {
    pub fn new(limit: Option<i32>, page_number: Option<i32>, unlimited: WhenUnlimited) -> Self {
        let limit = match limit.map(i64::from) {
            Some(l) if l >= 1 => l.min(MAX_LIMIT),
            _ => match unlimited {
                WhenUnlimited::All => i64::MAX,
                WhenUnlimited::Default(n) => n,
            },
        };
        let page = i64::from(page_number.unwrap_or(0).max(1));
        let offset = if limit == i64::MAX { 0 } else { limit.saturating_mul(page - 1) };
        Self { limit, offset }
    }

    /// `ceil(total / limit)`; "all on one page" gives 1, or 0 when empty.
    pub fn total_pages(&self, total_rows: i64) -> i64 {
        if total_rows <= 0 {
            return 0;
        }
        if self.limit == i64::MAX {
            return 1;
        }
        (total_rows + self.limit - 1) / self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_zero_and_one_are_the_first() {
        for p in [None, Some(-3), Some(0), Some(1)] {
            assert_eq!(Page::new(Some(10), p, WhenUnlimited::All).offset, 0);
        }
        assert_eq!(Page::new(Some(10), Some(3), WhenUnlimited::All).offset, 20);
    }

    #[test]
    fn total_pages_is_the_ceiling() {
        let page = Page::new(Some(10), None, WhenUnlimited::All);
        assert_eq!([0, 1, 9, 10, 11, 20, 21].map(|n| page.total_pages(n)), [0, 1, 1, 1, 2, 2, 3]);
    }

    #[test]
    fn no_limit_means_everything_or_the_default() {
        let all = Page::new(Some(0), Some(5), WhenUnlimited::All);
        assert_eq!((all.offset, all.total_pages(42), all.total_pages(0)), (0, 1, 0));
        let runs = Page::new(None, None, WhenUnlimited::Default(10));
        assert_eq!(runs.limit, 10);
    }

    #[test]
    fn limits_are_capped() {
        assert_eq!(Page::new(Some(i32::MAX), Some(i32::MAX), WhenUnlimited::All).limit, MAX_LIMIT);
    }
}
