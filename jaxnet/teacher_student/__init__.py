"""The report's teacher–student setting (Song & Lee).

- ``jaxnet.teacher_student.teachers``: the teacher registry (families and their properties).
- ``train``: SGD with L2 regularization in optax, whole batches of runs in one program.
- ``measures``: how condensed a student is (mass near the teacher's directions, ...).
- ``minnorm``: the exact minimum-norm interpolant (cvxpy + Clarabel).
"""
