// Package sampledisk builds custodian's sample disk: a small raw disk image
// with an MBR partition table and two FAT volumes full of known files, one
// deleted file and recognizable unallocated space. It is what a newcomer
// images first and what tests and demos use as a source with known content.
//
// The image is written by pure Go code (no mkfs, no sfdisk), so it is the same
// byte for byte on every run, every machine and every Go version: every
// field, timestamp, serial number and pseudo-random byte is fixed here, and
// nothing depends on the clock, the locale, map order or math/rand.
//
// Invariant: Build's output is exactly testdata/sample.img, whose SHA-256 is
// recorded in testdata/sample.img.sha256 and testdata/README.md. Changing
// anything that alters the output means regenerating and committing all of
// them (go generate ./internal/sampledisk, then update the tables in
// testdata/README.md from 'go run ./testdata/mksample.go -manifest'); the
// tests fail until that is done.
package sampledisk

//go:generate go run ../../testdata/mksample.go -dir ../../testdata
