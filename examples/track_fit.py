"""Track a fit in MLflow: learning-rate curve, metrics, decay settings, plot.

Logs to MLflow's default store (sqlite:///mlflow.db here) unless
MLFLOW_TRACKING_URI says otherwise; then reads the run back. Browse it with
`mlflow ui`.
"""

from mlflow import MlflowClient

from _common import digits, epochs_argument, small_model
from lrdecay import MlflowLogger, StepDecay

epochs = epochs_argument(default=20)
(x, y), validation = digits()

# As a context manager, a fit that raises ends its run FAILED right away.
with MlflowLogger(experiment_name="lrdecay-examples", run_name="step-decay") as logger:
    small_model().fit(
        x,
        y,
        validation_data=validation,
        epochs=epochs,
        batch_size=64,
        verbose=0,
        callbacks=[StepDecay(initial_lr=0.05, drop=0.5, epochs_drop=5), logger],
    )

client = MlflowClient()
run = client.get_run(logger.fit_run_id)
print(f"run {run.info.run_id}: {run.info.status}")
print("params:", {k: v for k, v in sorted(run.data.params.items())})
for point in client.get_metric_history(logger.fit_run_id, "learning_rate"):
    print(f"epoch {point.step:3d}  learning_rate {point.value:.5f}")
artifacts = client.list_artifacts(logger.fit_run_id, "lrdecay")
print("artifacts:", [artifact.path for artifact in artifacts])
