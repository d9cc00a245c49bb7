# Goldens for tests/core/npy_test.cc; run with Debian's numpy: /usr/bin/python3 make_npy.py
import numpy as np
np.save("f32_2x3.npy", np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5 - 1)
np.save("f32_5.npy", np.array([1, -1, 0.25, 1e-3, 65504], dtype=np.float32))
np.save("f32_scalar.npy", np.array(2.5, dtype=np.float32))
np.save("f64_4.npy", np.array([0.1, -2.5, 1e300, 3.0], dtype=np.float64))  # 1e300 -> inf
np.save("i64_3.npy", np.array([1, 2, 3], dtype=np.int64))
np.save("i32_2x2.npy", np.array([[-1, 0], [7, 2147483647]], dtype=np.int32))
np.save("i64_big_2.npy", np.array([-(2**40), 2**62], dtype=np.int64))
