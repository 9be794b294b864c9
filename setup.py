"""samcam: SAM-enhanced pseudo labels for weakly supervised semantic segmentation."""
from setuptools import find_packages, setup

# torch is a range so cluster users keep their own CUDA build; the Makefile pins the
# pair that works on the CI machine (constraints.txt).
TORCH = ["torch>=2.0", "torchvision>=0.15"]
# SAM's own generator and samcam's faster copy (also MobileSAM's: same code).
SAM = TORCH + ["segment-anything==1.0", "opencv-python>=4.5", "pycocotools>=2.0.6"]
# sam2 1.1.0 is published as a source archive only, needs Python >= 3.10 and builds
# against the installed torch: install torch first, then
#   SAM2_BUILD_CUDA=0 pip install --no-build-isolation sam2==1.1.0
# (SAM2_BUILD_CUDA=0 skips its optional CUDA extension; the Makefile does this).
SAM2 = ["torch>=2.5.1", "torchvision>=0.20.1", "sam2==1.1.0; python_version >= '3.10'"]
# HQ-SAM's and MobileSAM's TinyViT import timm without declaring it; tested with timm 1.0.
TIMM = "timm>=0.9,<1.1"
HQ = TORCH + ["segment-anything-hq==0.3", TIMM, "opencv-python>=4.5"]
MOBILESAM = SAM + ["mobilesam-mirror==1.0.0", TIMM]
# SAM 3 concept masks through transformers' Sam3Model (samcam/sam/sam3_family.py).
# transformers 5.24.0 needs Python >= 3.11 and turns PyTorch off below 2.6; its image
# processor runs on torchvision. Pinned: the version the tests check masks against.
SAM3 = ["torch>=2.6", "torchvision>=0.21", "transformers==5.24.0; python_version >= '3.11'"]

setup(
    name="samcam",
    version="0.1.0",
    description="Refine WSSS CAM pseudo labels with Segment Anything masks (arXiv 2305.05803)",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    # adapters/ lives at the top of the repo but is installed as samcam.adapters:
    # a top-level `adapters` module would clash with an unrelated PyPI package.
    # (Run from a checkout's root, samcam/__init__.py finds it there instead.)
    packages=find_packages(include=["samcam", "samcam.*"]) + ["samcam.adapters"],
    package_dir={"samcam": "samcam", "samcam.adapters": "adapters"},
    install_requires=[
        "numpy>=1.24",
        "pillow>=9",
        "scipy>=1.8",
        "scikit-image>=0.21",
        "tqdm>=4.60",
        # The eval report's chart and `samcam demo`'s report need it; an extra would make
        # the plain install's demo fail. Imported lazily, so `import samcam` stays light.
        "matplotlib>=3.5",
    ],
    extras_require={
        "sam": SAM,
        "sam2": SAM2,
        "hq": HQ,
        "mobilesam": MOBILESAM,
        "sam3": SAM3,
        # Every mask model family (they install side by side).
        "masks": sorted(set(SAM + SAM2 + HQ + MOBILESAM + SAM3)),
        "mmseg": [
            "mmsegmentation==1.2.2",
            "mmengine>=0.10,<1.0",
            "mmcv>=2.0.0rc4,<2.2.0",
            "ftfy",
            "regex",
            "opencv-python>=4.5",
        ],
        # `samcam coco-gt` (COCO's semantic ground truth from its instance annotations).
        "coco": ["pycocotools>=2.0.6"],
        "dev": [
            # tests/system/test_plugins.py builds its plug-in packages offline with this environment's
            # own setuptools (no build isolation): their pyproject [project] tables need >= 61,
            # and setuptools < 70.1 (a fresh venv's 65.5 on Python 3.10/3.11) builds wheels only
            # with the wheel package; a fresh venv on Python >= 3.12 has no setuptools at all.
            "setuptools>=61",
            "wheel",
            "pytest>=7",
            "hypothesis>=6",
            "pycocotools>=2.0.6",
            "ruff==0.17.6",
        ],
    },
    entry_points={
        "console_scripts": [
            "samcam=samcam.cli:main",
            "samcam-adapt=samcam.cli:adapt_main",
        ]
    },
)
