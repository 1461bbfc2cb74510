"""The instructor side of the course: nbgrader as the gradebook, every verdict reached outside
the student's process.

    python -m course_lib.grading generate | check-release | release | collect | zip_collect
                                 | autograde | feedback | export

Modules, in the order a submission meets them:
    ids            safe student ids (no paths, no dotfiles), checked wherever an id comes in
    collect        nbgrader's exchange, with the owner of every inbound folder checked
    zip_collect    an LMS download, unpacked here with caps on entries and bytes
    preflight      can this machine grade fairly? (sandbox, the grader's course_lib, data)
    limits         resource caps of a sandboxed kernel (memory, CPU, processes, files, time)
    sandbox        the bubblewrap / setpriv command lines
    kernel         the kernel wrapper a ``course-sandbox`` kernelspec runs
    preprocessors  SandboxedExecute (student cells in the kernel, test cells judged here)
    remote         the grader's end: test cells run in the grader, names resolved in the kernel
    bridge         the kernel's end: answers the grader's requests with data only
    wire           the data-only format between them (JSON and .npy, no pickle)
    probes         questions about a torch model, answered where the model lives
    testing        helpers for test cells, the same in the student's kernel and the grader
    scan           static scan of answer cells for forbidden calls and tampering (scan_rules)
    sanitize       graded copies and feedback: outputs capped in bytes, no live HTML
    autograde      parallel autograding with a serial merge into the gradebook
    report         statuses (ok / limit / failed), needs-review, and the CSV export
    release        generate, check and publish the release; feedback
    fixtures       filled-in submissions for tests and benchmarks

See docs/instructor_guide.md.
"""
