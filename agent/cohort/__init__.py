"""DiLoCo cohort sync between the holders of each layer, weights handoff, async contributors (DESIGN §9)."""
