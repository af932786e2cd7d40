//! Hour partitions and the on-disk layout
//! `tenants/<tenant>/<signal>/<YYYY-MM-DD>/<HH>/<unique>.parquet`.

use std::time::{SystemTime, UNIX_EPOCH};

use lookout_model::{Signal, TenantId};

/// Nanoseconds in one hour.
pub(crate) const HOUR_NANOS: i64 = 3_600_000_000_000;
/// Seconds in one hour.
pub(crate) const HOUR_SECS: i64 = 3_600;

/// Start of the hour containing `unix_nanos`, in Unix seconds.
pub(crate) fn hour_start_unix_secs(unix_nanos: i64) -> i64 {
    unix_nanos.div_euclid(HOUR_NANOS) * HOUR_SECS
}

/// `(year, month, day)` of a day count since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days_since_epoch: i64) -> (i64, u32, u32) {
    // Howard Hinnant's algorithm, valid for every i64 day count we can produce.
    let z = days_since_epoch + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Directory of a partition, relative to the data directory.
pub(crate) fn partition_dir(tenant: &TenantId, signal: Signal, hour_unix_secs: i64) -> String {
    let days = hour_unix_secs.div_euclid(86_400);
    let hour = hour_unix_secs.rem_euclid(86_400) / HOUR_SECS;
    let (year, month, day) = civil_from_days(days);
    format!(
        "tenants/{tenant}/{signal}/{year:04}-{month:02}-{day:02}/{hour:02}",
        signal = signal.as_str()
    )
}

/// A file name stem that is unique across flushes and processes.
pub(crate) fn unique_file_stem() -> String {
    let millis = now_unix_nanos() / 1_000_000;
    format!("{millis:013}-{:016x}", rand::random::<u64>())
}

/// The wall clock in Unix nanoseconds.
pub(crate) fn now_unix_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_dirs() {
        let tenant = TenantId::default_tenant();
        let cases = [
            (0, "tenants/default/traces/1970-01-01/00"),
            (3_600 * 25, "tenants/default/traces/1970-01-02/01"),
            (
                951_782_400 + 23 * 3_600,
                "tenants/default/traces/2000-02-29/23",
            ),
            (1_709_251_200, "tenants/default/traces/2024-03-01/00"),
            (-3_600, "tenants/default/traces/1969-12-31/23"),
        ];
        for (hour, expected) in cases {
            assert_eq!(partition_dir(&tenant, Signal::Traces, hour), expected);
        }
        assert_eq!(hour_start_unix_secs(HOUR_NANOS * 5 + 17), 5 * HOUR_SECS);
        assert_eq!(hour_start_unix_secs(-1), -HOUR_SECS);
    }
}
