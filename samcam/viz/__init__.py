"""Pictures: ``samcam vis`` panels (:mod:`.panels`) and the HTML evaluation report (:mod:`.report`)."""
