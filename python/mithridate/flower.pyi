from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from .aggregate import Reputation, Rule

class MithridateStrategy(FedAvg):
    rule: Rule
    f: int
    reputation: Reputation
    suspicion_threshold: float
    exclude_below: Optional[float]
    seed: int
    score: bool
    history: List[Dict[str, Any]]
    def __init__(
        self,
        rule: Union[Rule, str] = ...,
        *,
        f: int = ...,
        decay: float = ...,
        suspicion_threshold: float = ...,
        exclude_below: Optional[float] = ...,
        seed: int = ...,
        score: bool = ...,
        **kwargs: Any,
    ) -> None: ...
    def node_reputation(self, node_id: int) -> float: ...
    def reputations(self) -> Dict[int, float]: ...
    def excluded(self) -> List[int]: ...
    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]: ...
    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> Tuple[Optional[ArrayRecord], Optional[MetricRecord]]: ...
