"""The instructor side of the course: nbgrader with a sandboxed kernel, in parallel.

    python -m course_lib.grading generate | check-release | release | collect | zip_collect
                                 | autograde | feedback | export

Modules:
    limits         resource caps of a sandboxed kernel (memory, CPU, processes, files, time)
    sandbox        the bubblewrap / setpriv command lines
    kernel         the kernel wrapper a ``course-sandbox`` kernelspec runs
    preprocessors  SandboxedExecute and two grading fixes, used by nbgrader_config.py
    autograde      parallel autograding with a serial merge into the gradebook
    report         statuses (ok / limit / failed) and the CSV export
    release        generate, check and publish the release; collect; feedback
    testing        helpers for test cells (quiet stderr, specific feedback)

See docs/instructor_guide.md.
"""
