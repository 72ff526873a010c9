"""Build of the one compiled module, ``kmeans_xp._kernels._fused_step`` (everything else is in
pyproject.toml). It is optional: without a C compiler the package installs all the same and the
NumPy step runs its NumPy-call path instead."""

import sys

from setuptools import Extension, setup

if sys.platform == "win32":
    flags = ["/O2", "/fp:precise"]
else:
    # no fused multiply-adds: the scores round the same in every vector width and on every CPU;
    # POSIX threads for the module's own worker threads (_thread_pool.h)
    flags = ["-O3", "-ffp-contract=off", "-fno-math-errno", "-pthread"]

setup(
    ext_modules=[
        Extension(
            "kmeans_xp._kernels._fused_step",
            ["kmeans_xp/_kernels/_fused_step.c"],
            depends=[
                "kmeans_xp/_kernels/_fused_step_body.h",
                "kmeans_xp/_kernels/_fused_step_avx2.h",
                "kmeans_xp/_kernels/_row_min_body.h",
                "kmeans_xp/_kernels/_seeding_body.h",
                "kmeans_xp/_kernels/_fused_step_instance.h",
                "kmeans_xp/_kernels/_thread_pool.h",
            ],
            extra_compile_args=flags,
            extra_link_args=[] if sys.platform == "win32" else ["-pthread"],
            optional=True,
        )
    ]
)
