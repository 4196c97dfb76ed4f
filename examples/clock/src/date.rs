//! Calendar arithmetic on the proleptic Gregorian calendar, in UTC, without
//! dependencies. Day numbers count days since 1970-01-01.

const SECONDS_PER_DAY: i64 = 86_400;

/// Day number of a civil date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let mp = (i64::from(month) + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Civil date of a day number (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Formats seconds (and nanoseconds) since the Unix epoch as RFC 3339 in UTC.
pub fn format_rfc3339(seconds: i64, nanoseconds: u32) -> Result<String, String> {
    if nanoseconds >= 1_000_000_000 {
        return Err(format!(
            "nanoseconds must be below 1000000000, got {nanoseconds}"
        ));
    }
    let days = seconds.div_euclid(SECONDS_PER_DAY);
    let secs = seconds.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return Err(format!(
            "{seconds} is in the year {year}; RFC 3339 covers only the years 0000 to 9999"
        ));
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}");
    if nanoseconds != 0 {
        let frac = if nanoseconds.is_multiple_of(1_000_000) {
            format!(".{:03}", nanoseconds / 1_000_000)
        } else if nanoseconds.is_multiple_of(1_000) {
            format!(".{:06}", nanoseconds / 1_000)
        } else {
            format!(".{nanoseconds:09}")
        };
        out.push_str(&frac);
    }
    out.push('Z');
    Ok(out)
}

/// A cursor over ASCII text with error messages that point at the byte.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn fail<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{:?} at byte {}: {what}", self.text, self.pos))
    }

    fn number(&mut self, digits: usize, what: &str) -> Result<u32, String> {
        let field = self.text.get(self.pos..self.pos + digits);
        match field {
            Some(f) if f.bytes().all(|b| b.is_ascii_digit()) => {
                self.pos += digits;
                Ok(f.parse().unwrap_or(0))
            }
            _ => self.fail(&format!("expected {digits} digits for the {what}")),
        }
    }

    fn literal(&mut self, options: &[u8], what: &str) -> Result<u8, String> {
        match self.text.as_bytes().get(self.pos) {
            Some(b) if options.contains(b) => {
                self.pos += 1;
                Ok(*b)
            }
            _ => self.fail(&format!("expected {what}")),
        }
    }

    fn date(&mut self) -> Result<i64, String> {
        let year = i64::from(self.number(4, "year")?);
        self.literal(b"-", "'-'")?;
        let month = self.number(2, "month")?;
        self.literal(b"-", "'-'")?;
        let day_pos = self.pos;
        let day = self.number(2, "day")?;
        if !(1..=12).contains(&month) {
            self.pos = day_pos - 3;
            return self.fail(&format!("month {month} does not exist"));
        }
        if day == 0 || day > days_in_month(year, month) {
            self.pos = day_pos;
            return self.fail(&format!("{year:04}-{month:02} has no day {day}"));
        }
        Ok(days_from_civil(year, month, day))
    }

    fn end(&self) -> Result<(), String> {
        if self.pos == self.text.len() {
            Ok(())
        } else {
            self.fail("unexpected trailing text")
        }
    }
}

/// Parses a calendar date `YYYY-MM-DD` into a day number.
pub fn parse_date(text: &str) -> Result<i64, String> {
    let mut c = Cursor {
        text: text.trim(),
        pos: 0,
    };
    let days = c.date()?;
    c.end()?;
    Ok(days)
}

/// Parses an RFC 3339 date-time into seconds and nanoseconds since the epoch.
pub fn parse_rfc3339(text: &str) -> Result<(i64, u32), String> {
    let mut c = Cursor {
        text: text.trim(),
        pos: 0,
    };
    let days = c.date()?;
    c.literal(b"Tt ", "'T' between date and time")?;
    let hour = c.number(2, "hour")?;
    c.literal(b":", "':'")?;
    let minute = c.number(2, "minute")?;
    c.literal(b":", "':'")?;
    let second = c.number(2, "second")?;
    if hour > 23 || minute > 59 || second > 59 {
        return c.fail(&format!(
            "{hour:02}:{minute:02}:{second:02} is not a valid time of day (leap seconds are not supported)"
        ));
    }
    let mut nanoseconds = 0u32;
    if c.literal(b".", "").is_ok() {
        let start = c.pos;
        let mut scale = 100_000_000u32;
        while let Some(b @ b'0'..=b'9') = c.text.as_bytes().get(c.pos) {
            nanoseconds += u32::from(b - b'0') * scale;
            scale /= 10; // digits beyond nanoseconds are dropped
            c.pos += 1;
        }
        if c.pos == start {
            return c.fail("expected digits after '.'");
        }
    }
    let offset = match c.literal(b"Zz+-", "a time zone offset: 'Z', '+HH:MM' or '-HH:MM'")? {
        b'Z' | b'z' => 0,
        sign => {
            let oh = c.number(2, "offset hours")?;
            c.literal(b":", "':' in the offset")?;
            let om = c.number(2, "offset minutes")?;
            if oh > 23 || om > 59 {
                return c.fail("the offset is out of range");
            }
            let minutes = i64::from(oh * 60 + om);
            if sign == b'-' { -minutes } else { minutes }
        }
    };
    c.end()?;
    let seconds =
        days * SECONDS_PER_DAY + i64::from(hour * 3600 + minute * 60 + second) - offset * 60;
    Ok((seconds, nanoseconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        for d in (-800_000..3_000_000).step_by(97) {
            let (y, m, day) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, day), d);
        }
    }

    #[test]
    fn formatting() {
        assert_eq!(format_rfc3339(0, 0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_rfc3339(1_714_566_600, 250_000_000).unwrap(),
            "2024-05-01T12:30:00.250Z"
        );
        assert_eq!(
            format_rfc3339(-1, 1_000).unwrap(),
            "1969-12-31T23:59:59.000001Z"
        );
        assert_eq!(
            format_rfc3339(951_782_400, 7).unwrap(),
            "2000-02-29T00:00:00.000000007Z"
        );
        assert_eq!(
            format_rfc3339(253_402_300_799, 0).unwrap(),
            "9999-12-31T23:59:59Z"
        );
        assert_eq!(
            format_rfc3339(-62_167_219_200, 0).unwrap(),
            "0000-01-01T00:00:00Z"
        );
        assert!(format_rfc3339(253_402_300_800, 0).is_err());
        assert!(format_rfc3339(i64::MIN, 0).is_err());
        assert!(format_rfc3339(i64::MAX, 0).is_err());
        assert!(format_rfc3339(0, 1_000_000_000).is_err());
    }

    #[test]
    fn parsing() {
        assert_eq!(
            parse_rfc3339("2024-05-01T14:30:00+02:00").unwrap(),
            (1_714_566_600, 0)
        );
        assert_eq!(
            parse_rfc3339("2024-05-01t12:30:00.25z").unwrap(),
            (1_714_566_600, 250_000_000)
        );
        assert_eq!(
            parse_rfc3339("1969-12-31T23:59:59.0000000019Z").unwrap(),
            (-1, 1)
        );
        assert_eq!(
            parse_rfc3339("1970-01-01T00:00:00-00:30").unwrap(),
            (1800, 0)
        );
        for bad in [
            "2024-05-01",
            "2024-05-01T12:30:00",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:30:00.Z",
            "2024-05-01T12:30:00Zjunk",
            "2024-5-1T00:00:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_date("2024-02-29").unwrap() - parse_date("2023-02-28").unwrap(),
            366
        );
        assert!(parse_date("2023-02-29").unwrap_err().contains("no day 29"));
        assert!(parse_date("2023-00-10").unwrap_err().contains("month 0"));
    }
}
