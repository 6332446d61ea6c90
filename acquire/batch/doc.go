// Package batch runs several acquisitions as one job: the runner behind
// `custodian batch FILE.yaml`.
//
// # Stages
//
//   - [Parse] reads the batch file (YAML: defaults and jobs) into
//     [Setting]s, checking only its shape: the keys and values mean what
//     the acquire command's flags mean, and the CLI turns each job's
//     settings into [acquire.Options] through that command's own flag set.
//     Keys are the acquire flags' long names; an underscore counts as a
//     dash (case_number is case-number).
//   - [Validate] checks the whole batch before anything starts and returns
//     every problem at once ([Problems]): sources that are missing or
//     neither a block device nor a regular file, sources in use (mounted or
//     held) without AllowBusy, the same source twice,
//     duplicate names and folders, an output folder on any job's source
//     device, existing images without resume, each job's options
//     ([acquire.Options.Check]), and, per destination filesystem, the
//     summed worst-case size of its jobs against its free space. Nothing
//     is created until it passes. It returns the [Plan].
//   - [Batch.Run] runs the plan.
//
// # Scheduling
//
// Jobs whose sources are on the same physical disk (the disk itself or its
// partitions, by [blockdev.Info.DiskName]) form one chain and run one after
// another in file order: the write-block of one job covers the whole disk
// and its O_EXCL open conflicts with the other's. Chains run concurrently,
// up to [RunOptions.Parallel] at a time, in the order of their first job.
// So two jobs of one disk never run at once; Validate does not refuse
// them, it chains them, and checks that the plan holds them in one chain.
//
// Each job is exactly an ordinary acquisition: [acquire.New] and
// [acquire.Acquisition.Run] with the job's options, writing into
// OUTPUT/NAME/. A job that fails does not stop the others. Cancelling the
// context stops every running job the way Ctrl-C stops an acquisition
// (journal checkpointed, report incomplete, resumable); jobs not yet begun
// are recorded as not started.
//
// # Resume
//
// With [Config.Resume], a job whose folder holds a complete report is
// skipped (its result is taken from that report), a job whose folder holds
// a journal is resumed (acquire's --resume), and any other job starts
// afresh.
//
// # Summary
//
// OUTPUT/batch-summary.json ([Summary], schema "custodian/batch-summary/v1")
// is replaced atomically through the folder's *os.Root after every job
// ends and when the batch ends, also when it was interrupted. Its exit
// code is the worst of the jobs' in [exitcode.Worst]'s order (4 > 1 > 2 >
// 3 > 0).
package batch
