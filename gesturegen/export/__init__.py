"""Motion out of the project into other tools: BVH for animation software (`gesturegen.export.bvh`)."""
