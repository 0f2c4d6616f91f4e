"""Human evaluation: the mean-opinion-score study of Sec. V-C (Fig. 3) as a tool.

`prepare_study` makes the images, `create_app`/`serve` run the rating web app (Flask, SQLite)
and `write_report` computes MOS with 95% intervals. The `srfm mos` command wraps all three.
Heavy imports (Flask, matplotlib, TensorFlow) happen only in the submodule that needs them.
"""
