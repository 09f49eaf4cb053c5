// Package period does calendar period maths for the customer recorders:
// days, ISO 8601 weeks and calendar months in a *time.Location.
//
// # Usage
//
// Each [Unit] maps a time to the ordinal index of its period ([Unit.Index],
// for offsets such as "weeks since signup"), back to the period's start
// ([Unit.Start]), and to a label ([Unit.Label], [Unit.AppendLabel]):
// "2009-01-06" for a day, "2009-W02" for a week, "2009-01" for a month.
//
//	i := period.Week.Index(t, loc)     // weeks since the week of 1970-01-01
//	label := period.Month.Label(t, loc) // "2009-01"
//
// # Configuration
//
// Periods follow the civil calendar of the location, so a day is the local
// date whatever its length across a daylight-saving change. A nil location
// means UTC.
//
// # Performance
//
// Index and the Append form cost a few tens of nanoseconds and do not
// allocate; Label allocates its string.
//
// # Concurrency
//
// Every function is pure and safe for concurrent use.
package period
