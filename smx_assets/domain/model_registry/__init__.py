"""MLflow 3.17 tracking and registry for smx models: log, register, alias, promote, roll back.

Pure Python (no Dagster): the training/promotion assets, the scoring asset and ``smx rollback``
all call these functions, so the registry rules live in one place. Three modules along the
concerns, each taking the ``MlflowClient`` as an argument (Dagster code passes
``MlflowResource.client()``, which honours a separate registry URI):

* ``tracking``: the client, experiments, training runs, model logging;
* ``registry``: registration, aliases, loading a version by alias;
* ``promotion``: the promotion decision, moving ``champion``, rollback.

This package's face hands their public names on (``model_registry.register`` ...) so callers
keep one import; new code may import the modules directly.

Conventions
-----------
* Registered models: ``smx-<use case>`` (ML versions, plus copies of a rule version when the
  baseline wins) and ``smx-<use case>-rule`` (rule baselines). Aliases only (``champion``,
  ``challenger``); registry stages are deprecated since MLflow 2.9 and never used.
* Every model version carries ``smx.model_kind`` = ``ml`` | ``rule``; rule baselines are
  :class:`RulePyfuncModel` pyfunc models logged and registered exactly like sklearn models.
* Tracking URI: ``Settings.from_env().mlflow_tracking_uri`` (``MLFLOW_TRACKING_URI``, else
  ``sqlite:///$SMX_HOME/mlflow.db``). For local stores the experiment's artifact location is set
  explicitly to ``file://$SMX_HOME/artifacts/<experiment>``; MLflow's default would be a folder
  relative to the current working directory, which differs between the CLI, ``dagster dev`` and
  run workers.
* Scoring resolves ``champion`` to a version once and loads ``models:/NAME/VERSION``: loading by
  alias and then reading the alias again would race with a promotion and record the wrong
  lineage on predictions.
* MLflow gates *every* sklearn load (skops included) and every cloudpickled pyfunc load behind
  ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION`` (default true in 3.17): a hardened deployment that sets
  it to false can no longer load any of our models.
* Promotion history lives in the registered-model tag ``smx.champion_history`` (JSON list of
  versions, newest last), which is what ``rollback`` walks back.

dagster-mlflow (0.29.27): why we do not use its ``mlflow_tracking`` resource
-------------------------------------------------------------------------
It opens one MLflow run per *Dagster run* at resource initialisation, found again through the
``dagster_run_id`` tag, and relies on the ``end_mlflow_on_run_finished`` job hook to end it. For
this platform that is the wrong unit and the wrong lifecycle:

* one Dagster run may train several use cases (a job or a multi-asset backfill); they would
  share one MLflow run and clash on parameters;
* asset materialisations launched from the UI or ``materialize()`` carry no hook, so the run
  stays RUNNING and the next materialisation in the same process silently *reuses* it (the
  resource catches "already active"); it also unregisters MLflow's ``atexit`` end_run, so a
  crashed worker leaves RUNNING runs behind;
* it calls ``mlflow.set_experiment`` without an artifact location (artifacts land relative to
  the worker's cwd) and is a legacy dict-configured ``@resource``, not a ``ConfigurableResource``.

What it does give — a shared tracking URI and a ``dagster_run_id`` tag — is one line each. So
training uses :func:`training_run`, a context manager that opens exactly one run per training
call and always ends it (FINISHED, or FAILED on an exception, KILLED on an interrupt), refusing
to reuse any active run left over in the thread. Callers add ``dagster_run_id`` to ``tags`` to
keep dagster-mlflow's lookup convention, and a thin ``ConfigurableResource`` on the Dagster side
only needs to carry the tracking URI.
"""

from __future__ import annotations

from smx_assets.domain.model_registry.promotion import (  # noqa: F401
    HISTORY_MAX,
    TAG_COPIED_FROM,
    TAG_HISTORY,
    PromotionDecision,
    RollbackResult,
    apply_promotion,
    champion_history,
    decide_promotion,
    insufficient_evidence,
    rollback,
)
from smx_assets.domain.model_registry.registry import (  # noqa: F401
    CHALLENGER,
    CHAMPION,
    LoadedModel,
    ModelLoadError,
    NoModelError,
    ensure_registered_model,
    get_alias_version,
    latest_version,
    load_alias,
    load_champion,
    load_version,
    register,
    set_alias,
)
from smx_assets.domain.model_registry.tracking import (  # noqa: F401
    TAG_CODE_VERSION,
    TAG_KIND,
    TAG_USE_CASE,
    RulePyfuncModel,
    artifact_location_for,
    configure,
    ensure_experiment,
    log_rule_model,
    log_sklearn_model,
    pip_requirements,
    training_run,
)
