# plexus_connector(<id> <sources>...) — builds libplexus_<id>.so, the file name the host
# expects, with hidden visibility so the entry is the only exported symbol.
function(plexus_connector id)
  add_library(plexus_${id} MODULE ${ARGN})
  target_link_libraries(plexus_${id} PRIVATE Plexus::sdk)
  set_target_properties(plexus_${id} PROPERTIES
    PREFIX "lib" OUTPUT_NAME "plexus_${id}"
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
endfunction()
