"""Intake: every row of an inbox file or an API page ends inserted, merged or quarantined.

* :mod:`.inbox`: discover, claim and set aside the entries of the drop folder, move files when done;
* :mod:`.reading`: one reader per kind of file, chosen by :mod:`.reading.registry`;
* :mod:`.gate`: the Great Expectations suites (batch-level gate, row-level checks);
* :mod:`.validation_process`: where GX runs (a process beside this one), :mod:`.transport`: what crosses to it;
* :mod:`.stages`, :mod:`.batches`: a kind of file's stages and the batch bookkeeping (admit chunk by chunk, store);
* :mod:`.leads`, :mod:`.activities`: the two kinds of files; :mod:`.files` and :mod:`.api` the entry points.

The rules themselves (normalizing a row, quarantine reasons, dates) are plain functions in
:mod:`leadops.domain.intake`.
"""
