// Package hashing names the hash algorithms custodian computes and hashes
// one stream with several of them at once.
//
// Algorithm names ("md5", "sha1", "sha256", "sha512") are serialized into
// reports and journals and never change ([TestAlgorithmNameStability] pins
// them). A [Set] is an ordered selection of algorithms that parses itself
// from a flag value such as "md5,sha256" (it implements pflag.Value).
//
// Invariants:
//   - every byte written to a [Parallel] or a [Multi] reaches every selected
//     algorithm exactly once and in order;
//   - a hash's running state can be saved ([Multi.MarshalState]) and
//     restored, so an interrupted acquisition resumes without re-reading
//     what it already hashed.
package hashing
