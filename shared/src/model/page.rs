//! Pagination as the contract defines it (section 1.7): `page_number` 0 and 1 both
//! mean the first page, `total_pages = ceil(rows / limit)`.
//!
//! Every list is bounded (issue #11): a request without a limit gets a default page,
//! and no request gets more than [`MAX_LIMIT`] rows. The original UI still gets what
//! it shows: its pickers ask for 10 000 projects or scenarios, its tables for a page
//! size, and its run history for `limit: 0` (10 runs).

/// Largest page we serve; the UI asks for 10 000 to mean "all" in its pickers.
pub const MAX_LIMIT: i64 = 10_000;
/// The page of a list whose contract said "no limit = everything" (projects,
/// scenarios), when no limit is given: everything for a small deployment, one
/// bounded page (with `total_pages` telling how many more) for a large one.
pub const DEFAULT_UNLIMITED: i64 = 1_000;
/// Most rows of a list the contract gives no paging (agents, tags, data files,
/// scripts of a scenario, bucket objects): far above any real use, and bounded.
pub const MAX_UNPAGED_ROWS: i64 = 10_000;

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
    /// The contract's "everything on one page" (projects, scenarios), bounded to
    /// [`DEFAULT_UNLIMITED`] rows.
    All,
    /// This many rows (runs: 10).
    Default(i64),
}

impl Page {
    pub fn new(limit: Option<i32>, page_number: Option<i32>, unlimited: WhenUnlimited) -> Self {
        let limit = match limit.map(i64::from) {
            Some(l) if l >= 1 => l.min(MAX_LIMIT),
            _ => match unlimited {
                WhenUnlimited::All => DEFAULT_UNLIMITED,
                WhenUnlimited::Default(n) => n.clamp(1, MAX_LIMIT),
            },
        };
        let page = i64::from(page_number.unwrap_or(0).max(1));
        Self { limit, offset: limit.saturating_mul(page - 1) }
    }

    /// `ceil(total / limit)`, 0 when empty.
    pub fn total_pages(&self, total_rows: i64) -> i64 {
        if total_rows <= 0 {
            return 0;
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
    fn no_limit_means_a_bounded_first_page_or_the_default() {
        let all = Page::new(Some(0), None, WhenUnlimited::All);
        assert_eq!((all.limit, all.offset), (DEFAULT_UNLIMITED, 0));
        assert_eq!((all.total_pages(42), all.total_pages(0), all.total_pages(141_000)), (1, 0, 141));
        let second = Page::new(Some(0), Some(2), WhenUnlimited::All);
        assert_eq!(second.offset, DEFAULT_UNLIMITED);
        let runs = Page::new(None, None, WhenUnlimited::Default(10));
        assert_eq!(runs.limit, 10);
    }

    #[test]
    fn the_ui_pickers_get_their_10_000() {
        assert_eq!(Page::new(Some(10_000), Some(0), WhenUnlimited::All).limit, 10_000);
    }

    #[test]
    fn limits_are_capped() {
        assert_eq!(Page::new(Some(i32::MAX), Some(i32::MAX), WhenUnlimited::All).limit, MAX_LIMIT);
    }
}
