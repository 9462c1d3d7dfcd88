"""SplitSecond's own CPU kernels (a C++ extension built by the set-up): matmuls over GGUF 4-bit and 8-bit
weights re-encoded exactly at load (``ops``), and the build that makes them available (``build``)."""
