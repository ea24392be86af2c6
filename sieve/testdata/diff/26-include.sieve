require ["include", "variables"];
global "tag";
set "tag" "none";
include :personal "tagger";
include :global "global-rules";
include :once :personal "tagger";
