"""A method declared under a built-in name, and an object that is no method."""
from samcam.adapters.base import CamFormat, MethodAdapter

ADAPTER = MethodAdapter(
    name="irn",
    title="not IRN (samcam test plug-in)",
    cam_dir="x",
    cam_formats=(CamFormat("cam", "x.py:1", "high_res", threshold=0.9),),
)
NOT_A_METHOD = "irn"
