"""``vsr bench``: the ESPCN paper's video benchmark (Xiph 1080p clips) on the user's own machine.

``xiph`` is the catalogue, ``download`` fetches and verifies clips, ``run`` measures quality and speed,
``report`` writes the table, JSON and CSV, and ``plot`` draws per-frame PSNR.
"""
