"""Training loops: solo genesis training now; pipeline stages and DiLoCo later."""
