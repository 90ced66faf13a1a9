"""Reading and writing files: events, graphs, persona assignments, configs and run directories."""

from spillover.io._config import load_config as load_config
from spillover.io._config import read_config as read_config
from spillover.io._events import example_events as example_events
from spillover.io._events import example_events_path as example_events_path
from spillover.io._events import read_events as read_events
from spillover.io._graphs import read_edge_list as read_edge_list
from spillover.io._graphs import write_edge_list as write_edge_list
from spillover.io._personas import read_persona_assignment as read_persona_assignment
from spillover.io._rundir import MANIFEST as MANIFEST
from spillover.io._rundir import RunRecord as RunRecord
from spillover.io._rundir import check_output_dir as check_output_dir
from spillover.io._rundir import dumps_json as dumps_json
from spillover.io._rundir import json_safe as json_safe
from spillover.io._rundir import read_manifest as read_manifest
from spillover.io._rundir import run_dir_writer as run_dir_writer
from spillover.io._rundir import write_json as write_json
from spillover.io._rundir import write_run_dir as write_run_dir
from spillover.io._tables import FitInput as FitInput
from spillover.io._tables import read_fit_input as read_fit_input
from spillover.io._tables import read_table as read_table
