"""gistasks: scheduled tasks and asynchronous geoprocessing jobs, ArcGIS Enterprise REST dialect."""

__version__ = "0.1.0"
