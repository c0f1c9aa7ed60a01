#  ENABLE_SANITIZERS builds everything under AddressSanitizer and
#  UndefinedBehaviorSanitizer; any report aborts the process, so a test fails.
option(ENABLE_SANITIZERS "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
if(ENABLE_SANITIZERS)
    add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                        -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)
endif()
