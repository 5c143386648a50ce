"""The three tasks, the metrics each computes, and the estimators each allows."""

from __future__ import annotations

TASKS = ("classification", "regression", "clustering")

METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "precision", "recall", "f1", "roc_auc"),
    "regression": ("mse", "mae", "r2"),
    "clustering": ("silhouette",),
}
# The metric cross-validation and hyper-parameter search optimise when none is named.
PRIMARY_METRIC = {"classification": "accuracy", "regression": "r2", "clustering": "silhouette"}
LOWER_IS_BETTER = frozenset({"mse", "mae"})
# Metrics that mean something on a single held-out row (leave-one-out folds).
SINGLE_ROW_METRICS = frozenset({"accuracy", "mse", "mae"})

# The allow-list: only these classes are ever imported. Each takes JSON parameters only
# (numbers, strings, booleans, lists), so a spec can configure but never inject code.
# XGBoost's and LightGBM's scikit-learn wrappers are estimators like the others: they fit
# inside the same Pipeline, and the scoring server compiles them the same way.
ESTIMATORS: dict[str, tuple[str, ...]] = {
    "classification": (
        "sklearn.linear_model.LogisticRegression",
        "sklearn.linear_model.SGDClassifier",
        "sklearn.linear_model.RidgeClassifier",
        "sklearn.linear_model.Perceptron",
        "sklearn.svm.SVC",
        "sklearn.svm.LinearSVC",
        "sklearn.neighbors.KNeighborsClassifier",
        "sklearn.naive_bayes.GaussianNB",
        "sklearn.tree.DecisionTreeClassifier",
        "sklearn.ensemble.RandomForestClassifier",
        "sklearn.ensemble.ExtraTreesClassifier",
        "sklearn.ensemble.GradientBoostingClassifier",
        "sklearn.ensemble.HistGradientBoostingClassifier",
        "sklearn.neural_network.MLPClassifier",
        "xgboost.XGBClassifier",
        "lightgbm.LGBMClassifier",
    ),
    "regression": (
        "sklearn.linear_model.LinearRegression",
        "sklearn.linear_model.Ridge",
        "sklearn.linear_model.Lasso",
        "sklearn.linear_model.ElasticNet",
        "sklearn.linear_model.SGDRegressor",
        "sklearn.svm.SVR",
        "sklearn.svm.LinearSVR",
        "sklearn.neighbors.KNeighborsRegressor",
        "sklearn.tree.DecisionTreeRegressor",
        "sklearn.ensemble.RandomForestRegressor",
        "sklearn.ensemble.ExtraTreesRegressor",
        "sklearn.ensemble.GradientBoostingRegressor",
        "sklearn.ensemble.HistGradientBoostingRegressor",
        "sklearn.neural_network.MLPRegressor",
        "xgboost.XGBRegressor",
        "lightgbm.LGBMRegressor",
    ),
    "clustering": (
        "sklearn.cluster.KMeans",
        "sklearn.cluster.MiniBatchKMeans",
        "sklearn.cluster.Birch",
        "sklearn.mixture.GaussianMixture",
    ),
}
PREPROCESSORS: tuple[str, ...] = (
    "sklearn.preprocessing.StandardScaler",
    "sklearn.preprocessing.MinMaxScaler",
    "sklearn.preprocessing.MaxAbsScaler",
    "sklearn.preprocessing.RobustScaler",
    "sklearn.preprocessing.Normalizer",
    "sklearn.preprocessing.PolynomialFeatures",
    "sklearn.preprocessing.QuantileTransformer",
    "sklearn.impute.SimpleImputer",
    "sklearn.decomposition.PCA",
    "sklearn.feature_selection.VarianceThreshold",
)
ALL_ESTIMATORS: tuple[str, ...] = tuple(name for names in ESTIMATORS.values() for name in names)
ESTIMATOR_TASK = {name: task for task, names in ESTIMATORS.items() for name in names}

# Datasets that ship inside scikit-learn (no download): name -> task they suit.
BUNDLED_DATASETS = {
    "iris": "classification",
    "wine": "classification",
    "breast_cancer": "classification",
    "digits": "classification",
    "diabetes": "regression",
}
BUNDLED_TARGET = "target"
