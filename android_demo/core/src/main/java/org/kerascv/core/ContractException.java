package org.kerascv.core;

/** A model contract that is missing a field, or whose fields disagree; the message names both. */
public class ContractException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public ContractException(String message) {
        super(message);
    }
}
