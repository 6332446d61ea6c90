// Package mapfile reads and writes GNU ddrescue's mapfile: the list of
// which byte ranges of a source were read (finished), found bad, or not
// tried yet, with the position and phase the rescue had reached.
//
// custodian writes one next to every image (NAME.map), so that the tools
// built around ddrescue (ddrescuelog, ddrutility, ddru_ntfsfindbad, a later
// `ddrescue` run that retries only the bad sectors) work on custodian's
// images too, and so that a record of the damage exists that has no limit
// on offsets or counts (EWF's error2 section counts sectors in 32 bits).
//
// # Format
//
// A mapfile is text, in three parts. Heading comments ('#' at the start of
// a line or after white space starts a comment to the end of the line)
// name the program, its command line, the start time and the time the map
// was saved, and describe the phase. The first line that is not a comment
// is the status line: the current position, the current phase as one
// character ([Phase]), and the pass number within that phase (absent in
// maps of ddrescue before 1.20's pass counter; Parse accepts both). Every
// further line is a block: position, size (bytes) and one [Status]
// character. Blocks are contiguous and do not overlap. Numbers are written
// as 0x-prefixed upper-case hexadecimal, at least 8 digits; they are read in
// C's syntax (decimal, 0x hexadecimal, leading-0 octal), as ddrescue does.
//
// [Map.Marshal] writes exactly ddrescue's layout (column alignment, time
// format), so `ddrescuelog` reads the files and a diff against a map of
// ddrescue shows only real differences; [Parse] reads ddrescue's maps and
// ours, and Parse followed by Marshal gives back every map Marshal wrote,
// byte for byte.
//
// # Invariants
//
// A [Map] built with [Map.Append] and [Map.Set] always holds contiguous,
// non-overlapping blocks, adjacent blocks of one status merged (as ddrescue
// keeps them), none of size zero.
package mapfile
