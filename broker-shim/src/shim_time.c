/*  =========================================================================
    shim_time - ISO-8601 times as .NET writes and reads them

    Dates are converted with Howard Hinnant's days_from_civil and
    civil_from_days (proleptic Gregorian), so no time zone, locale or libc
    table is involved and every year 0001-9999 works the same way.
    =========================================================================
*/
#include "shim_classes.h"

#include <inttypes.h>

//  Microseconds in a day and in a second.
#define S_US_PER_SECOND INT64_C(1000000)
#define S_SECONDS_PER_DAY INT64_C(86400)

//  Unix days of 0001-01-01 and of 10000-01-01 (proleptic Gregorian).
#define S_DAYS_MIN INT64_C(-719162)
#define S_DAYS_END INT64_C(2932897)

//  ---------------------------------------------------------------------
//  Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
//  days_from_civil), so no time zone or libc table is involved.

static int64_t
s_days_from_civil(int64_t year, int64_t month, int64_t day)
{
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

//  ---------------------------------------------------------------------
//  The date of a day count (civil_from_days, the inverse).

static void
s_civil_from_days(int64_t days, int64_t *year, int64_t *month, int64_t *day)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t day_of_era = days - era * 146097;
    int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t month_index = (5 * day_of_year + 2) / 153;
    *day = day_of_year - (153 * month_index + 2) / 5 + 1;
    *month = month_index < 10 ? month_index + 3 : month_index - 9;
    *year = year_of_era + era * 400 + (*month <= 2);
}

//  ---------------------------------------------------------------------
//  Read exactly `count` digits at *at as a number and move past them;
//  -1 if they are not all digits.

static int64_t
s_fixed_digits(const char **at, size_t count)
{
    int64_t value = 0;
    for (size_t index = 0; index < count; index++) {
        char c = (*at)[index];
        if (c < '0' || c > '9') {
            return -1;
        }
        value = value * 10 + (c - '0');
    }
    *at += count;
    return value;
}

//  ---------------------------------------------------------------------
//  Days in a month of a year.

static int
s_month_days(int64_t year, int64_t month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return days[month - 1] + (month == 2 && leap ? 1 : 0);
}

//  ---------------------------------------------------------------------
//  Parse "Thh:mm[:ss[.f]]" into seconds of the day and microseconds;
//  *at is past it. Returns 0 or -1.

static int
s_time_of_day(const char **at, int64_t *seconds, int64_t *micros)
{
    int64_t hour = s_fixed_digits(at, 2);
    if (hour < 0 || hour > 23 || **at != ':') {
        return -1;
    }
    (*at)++;
    int64_t minute = s_fixed_digits(at, 2);
    if (minute < 0 || minute > 59) {
        return -1;
    }
    int64_t second = 0;
    *micros = 0;
    if (**at == ':') {
        (*at)++;
        second = s_fixed_digits(at, 2);
        if (second < 0 || second > 59) {
            return -1;
        }
        if (**at == '.') {
            (*at)++;
            size_t count = strspn(*at, "0123456789");
            if (count < 1 || count > 16) {
                return -1;
            }
            //  Microseconds: the first six digits, the rest truncated.
            for (size_t index = 0; index < 6; index++) {
                *micros = *micros * 10 + (index < count ? (*at)[index] - '0' : 0);
            }
            *at += count;
        }
    }
    *seconds = hour * 3600 + minute * 60 + second;
    return 0;
}

//  ---------------------------------------------------------------------
//  Parse the zone suffix into an offset in seconds; 0 for "Z" or none.

static int
s_zone(const char *at, int64_t *offset)
{
    *offset = 0;
    if (*at == '\0') {
        return 0;
    }
    if (at[0] == 'Z' && at[1] == '\0') {
        return 0;
    }
    if (*at != '+' && *at != '-') {
        return -1;
    }
    int64_t sign = *at == '-' ? -1 : 1;
    at++;
    int64_t hours = s_fixed_digits(&at, 2);
    if (hours < 0 || hours > 14 || *at != ':') {
        return -1;
    }
    at++;
    int64_t minutes = s_fixed_digits(&at, 2);
    if (minutes < 0 || minutes > 59 || *at != '\0') {
        return -1;
    }
    *offset = sign * (hours * 3600 + minutes * 60);
    return 0;
}

//  ---------------------------------------------------------------------
//  Parse ISO-8601 into Unix microseconds.

int
shim_time_parse(const char *text, int64_t *us_out)
{
    assert(text);
    assert(us_out);
    const char *at = text;
    int64_t year = s_fixed_digits(&at, 4);
    if (year < 1 || *at != '-') {
        return -1;
    }
    at++;
    int64_t month = s_fixed_digits(&at, 2);
    if (month < 1 || month > 12 || *at != '-') {
        return -1;
    }
    at++;
    int64_t day = s_fixed_digits(&at, 2);
    if (day < 1 || day > s_month_days(year, month)) {
        return -1;
    }
    int64_t seconds = 0;
    int64_t micros = 0;
    if (*at == 'T') {
        at++;
        if (s_time_of_day(&at, &seconds, &micros) != 0) {
            return -1;
        }
    }
    int64_t offset;
    if (s_zone(at, &offset) != 0) {
        return -1;
    }
    int64_t unix_seconds =
        s_days_from_civil(year, month, day) * S_SECONDS_PER_DAY + seconds - offset;
    *us_out = unix_seconds * S_US_PER_SECOND + micros;
    return 0;
}

//  ---------------------------------------------------------------------
//  Write `value` (0 .. 10^width - 1) as exactly `width` decimal digits at
//  `at`; returns the end.

static char *
s_put_digits(char *at, int64_t value, int width)
{
    assert(value >= 0);
    for (int index = width - 1; index >= 0; index--) {
        at[index] = (char) ('0' + value % 10);
        value /= 10;
    }
    assert(value == 0);
    return at + width;
}

//  ---------------------------------------------------------------------
//  Write Unix microseconds as UTC ISO-8601.

int
shim_time_format(int64_t us, char text[SHIM_TIME_TEXT_SIZE])
{
    assert(text);
    //  Floor division, so times before 1970 split into a day and a
    //  non-negative time of day.
    int64_t micros = us % S_US_PER_SECOND;
    int64_t seconds = us / S_US_PER_SECOND;
    if (micros < 0) {
        micros += S_US_PER_SECOND;
        seconds--;
    }
    int64_t days = seconds / S_SECONDS_PER_DAY;
    int64_t of_day = seconds % S_SECONDS_PER_DAY;
    if (of_day < 0) {
        of_day += S_SECONDS_PER_DAY;
        days--;
    }
    if (days < S_DAYS_MIN || days >= S_DAYS_END) {
        return -1;
    }
    int64_t year, month, day;
    s_civil_from_days(days, &year, &month, &day);
    //  By hand, not snprintf: four of these per message the shim publishes.
    char *at = text;
    at = s_put_digits(at, year, 4);
    *at++ = '-';
    at = s_put_digits(at, month, 2);
    *at++ = '-';
    at = s_put_digits(at, day, 2);
    *at++ = 'T';
    at = s_put_digits(at, of_day / 3600, 2);
    *at++ = ':';
    at = s_put_digits(at, of_day / 60 % 60, 2);
    *at++ = ':';
    at = s_put_digits(at, of_day % 60, 2);
    if (micros > 0) {
        int width = 6;
        while (micros % 10 == 0) {
            micros /= 10;
            width--;
        }
        *at++ = '.';
        at = s_put_digits(at, micros, width);
    }
    *at++ = 'Z';
    *at = '\0';
    assert(at - text < SHIM_TIME_TEXT_SIZE);
    return 0;
}
