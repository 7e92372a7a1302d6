// Package plan reads, validates and evaluates upgrade plan files.
//
// An upgrade plan says which devices of a product get which component
// versions, when, and under which conditions. The format is specified in
// spec/plan-format.md; this package is its only implementation and is shared
// by the module emulator, the local platform and the fleet runner. It knows
// nothing of AT commands.
//
// [Parse] turns one JSON document into a [Plan] and checks every rule of the
// format; each broken rule is reported as an [*Error] naming the file, the
// JSON field path and the rule. [Dir] loads a whole plans directory, keeps
// plan names unique and refuses in-place changes to activated plans.
// [Plan.Next] decides which component, if any, a device should upgrade now;
// time is always passed in, so callers control the clock. [Digest] computes
// the size, MD5, SHA-256 and CRC-32 that the module sends in the 7,10701
// event and that the MCU recomputes to verify.
//
// Plans returned by this package are shared between callers and must be
// treated as read-only.
//
// Time zones are loaded with [time.LoadLocation]; a program that may run
// where the system has no zoneinfo database should import time/tzdata in
// its main package.
package plan
