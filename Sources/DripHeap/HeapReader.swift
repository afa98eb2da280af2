// placeholder until the heap reader lands
