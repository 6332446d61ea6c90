// Package cmd is custodian's command-line interface: cobra commands kept
// thin over the library packages (acquire, blockdev, report, hashing).
//
// Each command parses its flags into a plain options struct, calls one
// library function, and renders the result (text for people, JSON for
// scripts). Configuration is resolved once, before a command runs, by one
// viper instance per root (flag > CUSTODIAN_* environment > --config file),
// for the commands that opt in. Errors are printed once, by Main, in the
// "custodian: error: … / custodian: hint: …" form, and mapped to the exit
// statuses of the contract in exitCode, the only place that does so.
package cmd
