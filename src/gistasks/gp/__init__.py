"""Geoprocessing: tools that declare their parameters next to ``execute``, grouped into
services (``catalog``), with the GP data types (``datatypes``) and Esri JSON features
(``esrijson``, ``shapes``). What runs a tool in a job's process is ``execution``; the engine
runs jobs, the services layer decides who may."""

from gistasks.gp.catalog import Catalog, CatalogError, Execution, ServiceDef
from gistasks.gp.datatypes import (
    GPBoolean,
    GPDataFile,
    GPDate,
    GPDouble,
    GPFeatureRecordSetLayer,
    GPLinearUnit,
    GPLong,
    GPMultiValue,
    GPRecordSet,
    GPString,
    GPType,
    LinearUnit,
)
from gistasks.gp.tool import Direction, JobContext, MessageType, Parameter, Tool

__all__ = ["Catalog", "CatalogError", "Direction", "Execution", "GPBoolean", "GPDataFile",
           "GPDate", "GPDouble", "GPFeatureRecordSetLayer", "GPLinearUnit", "GPLong",
           "GPMultiValue", "GPRecordSet", "GPString", "GPType", "JobContext", "LinearUnit",
           "MessageType", "Parameter", "ServiceDef", "Tool"]
