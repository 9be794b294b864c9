"""samcam: SAM-enhanced pseudo labels for weakly supervised semantic segmentation."""
from setuptools import find_packages, setup

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
        # torch is a range here so cluster users keep their own CUDA build; the
        # Makefile pins the pair that works on the CI machine (constraints.txt).
        "sam": [
            "torch>=2.0",
            "torchvision>=0.15",
            "segment-anything==1.0",
            "opencv-python>=4.5",
            "pycocotools>=2.0.6",
        ],
        "mmseg": [
            "mmsegmentation==1.2.2",
            "mmengine>=0.10,<1.0",
            "mmcv>=2.0.0rc4,<2.2.0",
            "ftfy",
            "regex",
            "opencv-python>=4.5",
        ],
        "dev": [
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
