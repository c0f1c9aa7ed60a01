/*  =========================================================================
    shim_time - ISO-8601 times as .NET writes and reads them

    MassTransit writes sentTime as UTC with "Z" and up to seven fraction
    digits; System.Text.Json reads a DateTime with "Z", an offset or no
    zone at all. Our events hold Unix microseconds. These two functions
    convert between them, exactly to the microsecond, for years 0001-9999
    (what a .NET DateTime holds).

        char text[SHIM_TIME_TEXT_SIZE];
        shim_time_format(INT64_C(1736936430123456), text);  //  "2025-01-15T10:20:30.123456Z"
        int64_t us;
        shim_time_parse("2025-01-15T12:20:30.1234567+02:00", &us);  //  1736936430123456
    =========================================================================
*/
#ifndef SHIM_TIME_H_INCLUDED
#define SHIM_TIME_H_INCLUDED

#include <stdint.h>

//  Buffer size of a time as shim_time_format writes it, NUL included:
//  "2025-01-15T10:20:30.123456Z".
#define SHIM_TIME_TEXT_SIZE 28

//  Parse ISO-8601 as System.Text.Json writes and reads DateTime:
//  "YYYY-MM-DD", optionally "Thh:mm", ":ss", ".f" (1-16 digits, read to
//  the microsecond), then "Z", "+hh:mm", "-hh:mm" or nothing (taken as
//  UTC, since nothing better is known). Years 0001-9999. Returns 0 and
//  sets *us_out to Unix microseconds, or -1.
int shim_time_parse(const char *text, int64_t *us_out);

//  Write Unix microseconds as UTC ISO-8601 with "Z", the fraction without
//  trailing zeros and left out when zero ("2025-01-15T10:20:30.1234Z"), as
//  MassTransit writes sentTime. Returns 0, or -1 (nothing written) when the
//  year would fall outside 0001-9999.
int shim_time_format(int64_t us, char text[SHIM_TIME_TEXT_SIZE]);

#endif
