//! The daemon's wall clock, the one every reading goes through (invitation expiry, sync
//! timestamps, what the API stores). `GUILD_CLOCK_OFFSET_SECS` shifts it: tests run daemons
//! whose clocks disagree by hours, as laptops' clocks do.

use std::sync::OnceLock;

pub const OFFSET_ENV: &str = "GUILD_CLOCK_OFFSET_SECS";

/// Now, shifted by `GUILD_CLOCK_OFFSET_SECS` if set.
pub fn now() -> time::OffsetDateTime {
    static OFFSET: OnceLock<i64> = OnceLock::new();
    let offset = *OFFSET.get_or_init(|| {
        std::env::var(OFFSET_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    });
    time::OffsetDateTime::now_utc() + time::Duration::seconds(offset)
}
