"""Pictures: ``samcam vis`` panels (:mod:`.panels`, drawn by :mod:`.draw`) and the HTML
evaluation report (:mod:`.report`, with :mod:`.charts`, :mod:`.mask_report` and :mod:`.page`)."""
