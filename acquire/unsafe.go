package acquire

import "unsafe"

// uintptrOf returns the address of b's first byte, to align buffers for
// O_DIRECT. The buffer is never moved: Go's garbage collector does not
// relocate heap objects.
func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
